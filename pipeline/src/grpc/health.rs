//! `grpc.health.v1.Health` for the event services: SERVING until draining starts, then
//! NOT_SERVING for every service at once. A `Watch` stream sends NOT_SERVING and then ends, so
//! a watcher that stays connected (Extend keeps one open) cannot hold the shutdown up.

use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_server::Health;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

/// The health of the named services (the empty name is the server as a whole).
#[derive(Clone)]
pub struct EventHealth {
    services: Arc<[&'static str]>,
    draining: watch::Receiver<bool>,
}

impl EventHealth {
    /// Health for `services`, NOT_SERVING once `draining` turns `true`.
    pub fn new(services: &[&'static str], draining: watch::Receiver<bool>) -> Self {
        Self {
            services: services.into(),
            draining,
        }
    }

    fn status(&self, service: &str) -> Result<ServingStatus, Status> {
        if !service.is_empty() && !self.services.contains(&service) {
            return Err(Status::not_found(format!(
                "service `{service}` is not served here"
            )));
        }
        Ok(if *self.draining.borrow() {
            ServingStatus::NotServing
        } else {
            ServingStatus::Serving
        })
    }
}

fn response(status: ServingStatus) -> HealthCheckResponse {
    HealthCheckResponse {
        status: status as i32,
    }
}

#[tonic::async_trait]
impl Health for EventHealth {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        self.status(&request.get_ref().service)
            .map(|status| Response::new(response(status)))
    }

    type WatchStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let now = self.status(&request.get_ref().service)?;
        let (sender, receiver) = mpsc::channel(2);
        let mut draining = self.draining.clone();
        tokio::spawn(async move {
            if sender.send(Ok(response(now))).await.is_err() || now == ServingStatus::NotServing {
                return;
            }
            tokio::select! {
                () = async { drop(draining.wait_for(|draining| *draining).await) } => {
                    let _ = sender.send(Ok(response(ServingStatus::NotServing))).await;
                }
                () = sender.closed() => {}
            }
            // Dropping the sender ends the stream: the watcher's call completes.
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }
}
