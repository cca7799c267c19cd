//! Motion detection on the preview's luma (being written).
