//! Whether a camera's source delivers: told by its capture thread, published by its
//! publisher and listed in the directory.

/// Whether the source is delivering, as published on the camera's status topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceStatus {
    /// Not delivered a frame yet.
    Starting,
    /// Delivering; what it is.
    Online(String),
    /// Failing; why.
    Offline(String),
}

impl SourceStatus {
    /// The status message for this state, set at `at_us` (see [`wire::status`]).
    pub fn message(&self, at_us: u64) -> wire::status::Status {
        use wire::status::{State, Status};
        let (state, detail) = match self {
            SourceStatus::Starting => (State::Starting, ""),
            SourceStatus::Online(d) => (State::Online, d.as_str()),
            SourceStatus::Offline(d) => (State::Offline, d.as_str()),
        };
        Status { state, detail: detail.to_string(), at_us }
    }

    /// The retained status payload for this state, set at `at_us`: JSON.
    pub fn payload(&self, at_us: u64) -> String {
        // Strings and numbers only: serializing cannot fail.
        serde_json::to_string(&self.message(at_us)).expect("a status serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_payload_says_state_detail_and_time() {
        let offline = SourceStatus::Offline("camera \"door\" unplugged".into());
        assert_eq!(
            offline.payload(42),
            r#"{"state":"offline","detail":"camera \"door\" unplugged","at_us":42}"#
        );
        assert_eq!(SourceStatus::Starting.payload(7), r#"{"state":"starting","detail":"","at_us":7}"#);
    }
}
