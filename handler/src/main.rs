//! `handler`: the AccelByte Extend event handler binary. Not built yet (issue #4).

fn main() -> std::process::ExitCode {
    eprintln!("handler: the gRPC event handler is not implemented yet (issue #4)");
    std::process::ExitCode::from(2)
}
