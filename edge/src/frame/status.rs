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
