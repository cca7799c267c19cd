//! The bus's other messages, beside the frames: status, alarms, the camera directory and
//! detections read from their JSON (`json`), every camera as its tile
//! shows it (`cameras`), and detections matched to the frames they
//! belong to ([`marks`]).

pub(crate) mod cameras;
pub(crate) mod json;
pub mod marks;
