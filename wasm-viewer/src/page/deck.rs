//! What the page shows: the grid or one camera, and which. I/O-free.
//!
//! Two things choose the camera on screen, and an alarm wins (the rule of the monitors
//! this project grew from, "alarm over user"):
//! - the user's pick: a tile tapped, next/previous, the grid button, a link's `?camera=`;
//! - active alarms: the newest one that the user has not dismissed holds the screen, the
//!   others are marked on their tiles. When it clears or is dismissed, the screen goes
//!   back to the next newest alarm, or to the user's pick, wherever that was.
//!
//! A pick made while an alarm holds the screen dismisses that alarm: the user saw it
//! and chose to look elsewhere; a *new* alarm (a later `at_us`) from any camera takes the
//! screen again.

/// An active alarm, as its camera's `alarm` topic said.
#[derive(Debug, Clone, PartialEq)]
pub struct Alarm {
    pub camera: String,
    pub reason: String,
    /// When it was raised (edge µs), to tell a new alarm from the same one repeated.
    pub at_us: u64,
    /// The order in which alarms arrived here: the newest holds the screen.
    arrived: u64,
    dismissed: bool,
}

/// The cameras known, the user's pick and the alarms.
#[derive(Debug, Default)]
pub struct Deck {
    cameras: Vec<String>,
    /// `None`: the grid.
    pick: Option<String>,
    alarms: Vec<Alarm>,
    arrivals: u64,
}

/// What is on screen.
#[derive(Debug, Clone, PartialEq)]
pub enum Shown<'a> {
    Grid,
    Camera(&'a str),
    /// A camera shown because of its alarm.
    Alarm(&'a Alarm),
}

impl Shown<'_> {
    /// The camera on screen, if any.
    pub fn camera(&self) -> Option<&str> {
        match self {
            Shown::Grid => None,
            Shown::Camera(c) => Some(c),
            Shown::Alarm(a) => Some(&a.camera),
        }
    }
}

impl Deck {
    /// Cameras in the order tiles show them; new names go at the end.
    pub fn cameras(&self) -> &[String] {
        &self.cameras
    }

    /// Adds cameras not known yet; true if any was new.
    pub fn learn<'a>(&mut self, names: impl IntoIterator<Item = &'a str>) -> bool {
        let mut new = false;
        for name in names {
            if !self.cameras.iter().any(|c| c == name) {
                self.cameras.push(name.to_string());
                new = true;
            }
        }
        new
    }

    pub fn pick(&self) -> Option<&str> {
        self.pick.as_deref()
    }

    /// The user picks a camera, or the grid (`None`).
    pub fn choose(&mut self, camera: Option<&str>) {
        if let Some(c) = camera {
            self.learn([c]);
        }
        // Looking elsewhere while an alarm holds the screen: seen, set aside.
        if let Shown::Alarm(a) = self.shown() {
            let on_screen = a.camera.clone();
            if camera != Some(on_screen.as_str()) {
                self.dismiss();
            }
        }
        self.pick = camera.map(str::to_string);
    }

    /// The camera after (`step` 1) or before (-1) the one on screen, round the list; from
    /// the grid, the first or last.
    pub fn neighbour(&self, step: isize) -> Option<&str> {
        let n = self.cameras.len() as isize;
        if n == 0 {
            return None;
        }
        let at = match self.shown().camera() {
            Some(c) => self.cameras.iter().position(|x| x == c).map_or(0, |i| i as isize + step),
            None if step >= 0 => 0,
            None => n - 1,
        };
        Some(&self.cameras[at.rem_euclid(n) as usize])
    }

    /// What a camera's alarm topic said: raised (`Some(reason)`) or cleared (`None`).
    pub fn alarm(&mut self, camera: &str, raised: Option<(&str, u64)>) {
        self.learn([camera]);
        let existing = self.alarms.iter().position(|a| a.camera == camera);
        match (raised, existing) {
            (None, Some(i)) => {
                self.alarms.remove(i);
            }
            (None, None) => {}
            // The same alarm again (a retained copy, a repeat): only its text may change.
            (Some((reason, at_us)), Some(i)) if self.alarms[i].at_us == at_us => {
                self.alarms[i].reason = reason.to_string();
            }
            (Some((reason, at_us)), existing) => {
                if let Some(i) = existing {
                    self.alarms.remove(i);
                }
                self.arrivals += 1;
                self.alarms.push(Alarm {
                    camera: camera.to_string(),
                    reason: reason.to_string(),
                    at_us,
                    arrived: self.arrivals,
                    dismissed: false,
                });
            }
        }
    }

    /// The user dismissed the alarm on screen: back to what they had.
    pub fn dismiss(&mut self) {
        if let Some(a) = self.on_screen_alarm() {
            self.alarms[a].dismissed = true;
        }
    }

    /// Whether `camera` has an active alarm (dismissed or not): its tile is marked.
    pub fn alarmed(&self, camera: &str) -> bool {
        self.alarms.iter().any(|a| a.camera == camera)
    }

    fn on_screen_alarm(&self) -> Option<usize> {
        (0..self.alarms.len()).filter(|&i| !self.alarms[i].dismissed).max_by_key(|&i| self.alarms[i].arrived)
    }

    pub fn shown(&self) -> Shown<'_> {
        match (self.on_screen_alarm(), &self.pick) {
            (Some(i), _) => Shown::Alarm(&self.alarms[i]),
            (None, Some(c)) => Shown::Camera(c),
            (None, None) => Shown::Grid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deck() -> Deck {
        let mut d = Deck::default();
        d.learn(["door", "yard", "garage", "hall"]);
        d
    }

    #[test]
    fn the_users_pick_is_shown_and_the_grid_is_no_pick() {
        let mut d = deck();
        assert_eq!(d.shown(), Shown::Grid);
        d.choose(Some("yard"));
        assert_eq!(d.shown(), Shown::Camera("yard"));
        d.choose(None);
        assert_eq!(d.shown(), Shown::Grid);
    }

    #[test]
    fn an_alarm_takes_the_screen_and_its_end_gives_it_back() {
        let mut d = deck();
        d.choose(Some("door"));
        d.alarm("garage", Some(("motion", 10)));
        assert_eq!(d.shown().camera(), Some("garage"));
        assert!(matches!(d.shown(), Shown::Alarm(a) if a.reason == "motion"));
        d.alarm("garage", None);
        assert_eq!(d.shown(), Shown::Camera("door"));
        // From the grid too.
        d.choose(None);
        d.alarm("hall", Some(("door bell", 20)));
        assert_eq!(d.shown().camera(), Some("hall"));
        d.alarm("hall", None);
        assert_eq!(d.shown(), Shown::Grid);
    }

    #[test]
    fn the_newest_alarm_holds_the_screen_and_the_others_stay_marked() {
        let mut d = deck();
        d.choose(Some("door"));
        d.alarm("yard", Some(("person", 10)));
        d.alarm("hall", Some(("smoke", 5)));
        assert_eq!(d.shown().camera(), Some("hall"), "newest to arrive, whatever its clock says");
        assert!(d.alarmed("yard") && d.alarmed("hall") && !d.alarmed("door"));
        d.dismiss();
        assert_eq!(d.shown().camera(), Some("yard"), "then the next newest");
        assert!(d.alarmed("hall"), "a dismissed alarm is still marked on its tile");
        d.dismiss();
        assert_eq!(d.shown(), Shown::Camera("door"));
    }

    #[test]
    fn a_repeated_alarm_does_not_take_the_screen_again_but_a_new_one_does() {
        let mut d = deck();
        d.alarm("yard", Some(("person", 10)));
        d.dismiss();
        d.alarm("yard", Some(("person, 2", 10)));
        assert_eq!(d.shown(), Shown::Grid, "the same alarm (same at_us) repeated, retained");
        d.alarm("yard", Some(("person", 11)));
        assert_eq!(d.shown().camera(), Some("yard"));
    }

    #[test]
    fn picking_another_camera_during_an_alarm_sets_it_aside() {
        let mut d = deck();
        d.alarm("yard", Some(("person", 10)));
        d.choose(Some("yard"));
        assert_eq!(d.shown().camera(), Some("yard"), "picking the alarmed camera keeps the alarm");
        assert!(matches!(d.shown(), Shown::Alarm(_)));
        d.choose(Some("door"));
        assert_eq!(d.shown(), Shown::Camera("door"));
        assert!(d.alarmed("yard"));
    }

    #[test]
    fn next_and_previous_go_round_the_list_and_start_from_the_grid() {
        let mut d = deck();
        assert_eq!(d.neighbour(1), Some("door"));
        assert_eq!(d.neighbour(-1), Some("hall"));
        d.choose(Some("hall"));
        assert_eq!(d.neighbour(1), Some("door"));
        assert_eq!(d.neighbour(-1), Some("garage"));
        d.alarm("yard", Some(("x", 1)));
        assert_eq!(d.neighbour(1), Some("garage"), "from the camera on screen, the alarmed one");
        assert_eq!(Deck::default().neighbour(1), None);
    }

    #[test]
    fn cameras_are_learnt_once_in_order() {
        let mut d = Deck::default();
        assert!(d.learn(["b", "a"]));
        assert!(!d.learn(["a"]));
        d.alarm("c", None);
        d.choose(Some("d"));
        assert_eq!(d.cameras(), ["b", "a", "c", "d"]);
    }
}
