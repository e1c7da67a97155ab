//! The Extend gRPC event handler (login, statistic update, GDPR deletion). Not built yet:
//! see issue #4.
