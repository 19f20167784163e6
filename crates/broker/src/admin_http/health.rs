//! Liveness and readiness. Live: the process answers. Ready: the broker is
//! registered under this process's incarnation and unfenced, which the
//! controller grants only once the broker reported itself caught up with
//! the metadata log (Kafka's KRaft broker lifecycle). A previous
//! incarnation's registration (after a kill -9) does not count.

use std::sync::Arc;

use brook_metadata::MetadataImage;
use hyper::StatusCode;

use super::{text, HttpResponse};
use crate::Node;

/// Why a broker is or is not ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    NotReady(String),
}

/// The pure rule, from this node's image.
pub fn readiness(image: &MetadataImage, node_id: i32, incarnation: &str) -> Readiness {
    match image.brokers.get(&node_id) {
        None => Readiness::NotReady("not registered".into()),
        Some(b) if b.incarnation != incarnation => {
            Readiness::NotReady("registration of a previous process still in the metadata".into())
        }
        Some(b) if b.fenced => Readiness::NotReady("fenced (catching up with the metadata log)".into()),
        Some(_) => Readiness::Ready,
    }
}

pub fn ready_response(node: Option<&Arc<Node>>) -> HttpResponse {
    let Some(node) = node else {
        return text(StatusCode::SERVICE_UNAVAILABLE, "not ready: starting (registering with the controller)\n");
    };
    if !node.config.is_broker {
        // A controller-only node is ready once it is in the quorum and started.
        return text(StatusCode::OK, "ready\n");
    }
    match readiness(&node.image(), node.config.node_id, &node.incarnation) {
        Readiness::Ready => text(StatusCode::OK, "ready\n"),
        Readiness::NotReady(why) => text(StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brook_metadata::image::BrokerImage;

    fn image_with(incarnation: &str, fenced: bool) -> MetadataImage {
        let mut image = MetadataImage::default();
        image.brokers.insert(
            1,
            BrokerImage {
                id: 1,
                incarnation: incarnation.into(),
                host: "127.0.0.1".into(),
                port: 9092,
                fenced,
                endpoints: vec![],
            },
        );
        image
    }

    #[test]
    fn ready_only_when_registered_by_this_process_and_unfenced() {
        assert_eq!(readiness(&MetadataImage::default(), 1, "a"), Readiness::NotReady("not registered".into()));
        assert!(matches!(readiness(&image_with("a", true), 1, "a"), Readiness::NotReady(_)));
        assert!(matches!(readiness(&image_with("old", false), 1, "a"), Readiness::NotReady(_)));
        assert_eq!(readiness(&image_with("a", false), 1, "a"), Readiness::Ready);
    }
}
