//! A camera whose previews come from a cheaper source of its own while nobody watches:
//! an IP camera's substream or snapshot URL (`preview=`). The main stream is read (and,
//! for H.264, decoded) only while someone watches; otherwise it is closed, and the
//! previews and motion detection take the small source's frames.
//!
//! The catch, said plainly: a main stream opened when someone starts watching shows
//! its first full-size picture at its next keyframe (up to a GOP); the preview is on
//! screen meanwhile. Without `preview=`, an H.264 camera stays connected and decodes
//! its keyframes for the previews, which starts at once but keeps its main stream
//! coming over the network.

use super::seam::{Decoded, Demand, Source, SourceError, Wanted};
use crate::frame::Captured;

pub struct Split {
    main: Box<dyn Source>,
    small: Box<dyn Source>,
    wanted: Wanted,
    /// Which one was asked last: `Some(true)` the main stream.
    on_main: Option<bool>,
}

impl Split {
    pub fn new(main: Box<dyn Source>, small: Box<dyn Source>) -> Split {
        Split { main, small, wanted: Wanted::every(), on_main: None }
    }
}

impl Source for Split {
    fn describe(&self) -> String {
        format!("{}, previews from {}", self.main.describe(), self.small.describe())
    }

    fn wanted(&mut self, wanted: Wanted) {
        // The small source serves previews: every frame it has (its rate is its own),
        // until the edge stops.
        let told = wanted.clone();
        self.small.wanted(Wanted::new(move || match told.now() {
            Demand::Stop => Demand::Stop,
            _ => Demand::Every,
        }));
        self.main.wanted(wanted.clone());
        self.wanted = wanted;
    }

    fn rest(&mut self) {
        self.main.rest();
        self.small.rest();
        self.on_main = None;
    }

    fn previews_only(&self) -> bool {
        self.on_main == Some(false)
    }

    fn decoded(&self) -> Decoded {
        let (a, b) = (self.main.decoded(), self.small.decoded());
        Decoded { frames: a.frames + b.frames, us: a.us + b.us }
    }

    fn next_frame(&mut self) -> Result<Captured, SourceError> {
        let main = self.wanted.now() != Demand::Sparse;
        if self.on_main != Some(main) {
            // Let go of the one not needed now: the camera stops sending it.
            match main {
                true => self.small.rest(),
                false => self.main.rest(),
            }
            self.on_main = Some(main);
        }
        match main {
            true => self.main.next_frame(),
            false => self.small.next_frame(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Picture;
    use std::sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed},
        Arc,
    };

    /// Makes JPEG "frames" holding its mark; counts rests.
    struct Marked(u8, Arc<AtomicUsize>);

    impl Source for Marked {
        fn describe(&self) -> String {
            format!("source {}", self.0)
        }
        fn next_frame(&mut self) -> Result<Captured, SourceError> {
            Ok(Captured { picture: Picture::Jpeg(vec![self.0]), capture_us: 1 })
        }
        fn rest(&mut self) {
            self.1.fetch_add(1, Relaxed);
        }
    }

    fn mark(c: Captured) -> u8 {
        match c.picture {
            Picture::Jpeg(d) => d[0],
            _ => unreachable!(),
        }
    }

    #[test]
    fn the_small_source_serves_while_nobody_watches_and_the_main_one_rests() {
        let (main_rests, small_rests) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut split =
            Split::new(Box::new(Marked(1, main_rests.clone())), Box::new(Marked(2, small_rests.clone())));
        let watched = Arc::new(AtomicBool::new(false));
        let w = watched.clone();
        split.wanted(Wanted::new(move || if w.load(Relaxed) { Demand::Every } else { Demand::Sparse }));
        assert_eq!(mark(split.next_frame().unwrap()), 2);
        assert!(split.previews_only(), "a substream's frame is for previews only");
        assert_eq!(mark(split.next_frame().unwrap()), 2);
        assert_eq!((main_rests.load(Relaxed), small_rests.load(Relaxed)), (1, 0));
        watched.store(true, Relaxed);
        assert_eq!(mark(split.next_frame().unwrap()), 1);
        assert!(!split.previews_only());
        assert_eq!((main_rests.load(Relaxed), small_rests.load(Relaxed)), (1, 1));
        assert_eq!(split.describe(), "source 1, previews from source 2");
    }
}
