//! Which segments to delete, without I/O: by age, by bytes (per camera and in all) and
//! to keep a floor of free space. The oldest continuous footage (the preview track)
//! goes first; the full-size frames kept around events go only when no preview segment
//! is left to delete, or when they pass their own, longer, age. The segment being
//! written goes last of all (only when it is all that is left, on a disk that is full).

/// The rules (each `None` or 0: no such limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// Bytes of all cameras' recordings together.
    pub max_bytes: Option<u64>,
    /// Bytes of one camera's recordings.
    pub camera_max_bytes: Option<u64>,
    /// Age of the continuous (preview) footage, days.
    pub days: Option<u32>,
    /// Age of the full-size frames kept around events, days.
    pub event_days: Option<u32>,
    /// Free space to leave on the recordings' file system, bytes.
    pub min_free: u64,
}

/// A segment as retention sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seg {
    pub camera: usize,
    /// The full-size track (events), else the preview (continuous).
    pub full: bool,
    pub start_us: u64,
    pub end_us: u64,
    pub bytes: u64,
    /// Being written.
    pub open: bool,
}

const DAY_US: u64 = 86_400 * 1_000_000;

/// The segments to delete (indices into `segs`), in the order to delete them, given
/// the time now and the free space left.
pub fn plan(segs: &[Seg], limits: &Limits, now_us: u64, free: u64) -> Vec<usize> {
    let too_old = |s: &Seg| {
        let days = if s.full { limits.event_days } else { limits.days };
        days.is_some_and(|d| s.end_us + u64::from(d) * DAY_US < now_us) && !s.open
    };
    let mut delete: Vec<usize> = (0..segs.len()).filter(|&i| too_old(&segs[i])).collect();
    // The rest in the order they go: preview before full, the open ones last, oldest first.
    let mut order: Vec<usize> = (0..segs.len()).filter(|i| !delete.contains(i)).collect();
    order.sort_by_key(|&i| (segs[i].open, segs[i].full, segs[i].start_us));
    let cameras = segs.iter().map(|s| s.camera + 1).max().unwrap_or(0);
    let mut per_camera = vec![0u64; cameras];
    for &i in &order {
        per_camera[segs[i].camera] += segs[i].bytes;
    }
    let mut total: u64 = per_camera.iter().sum();
    let freed: u64 = delete.iter().map(|&i| segs[i].bytes).sum();
    let mut free = free.saturating_add(freed);
    loop {
        let camera_over = limits.camera_max_bytes.and_then(|m| (0..cameras).find(|&c| per_camera[c] > m));
        let all_over = limits.max_bytes.is_some_and(|m| total > m) || free < limits.min_free;
        let pick = match camera_over {
            Some(c) => order.iter().position(|&i| segs[i].camera == c),
            None if all_over => (!order.is_empty()).then_some(0),
            None => None,
        };
        let Some(at) = pick else { break };
        let i = order.remove(at);
        per_camera[segs[i].camera] -= segs[i].bytes;
        total -= segs[i].bytes;
        free = free.saturating_add(segs[i].bytes);
        delete.push(i);
    }
    delete
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(camera: usize, full: bool, start_s: u64, bytes: u64) -> Seg {
        Seg {
            camera,
            full,
            start_us: start_s * 1_000_000,
            end_us: (start_s + 60) * 1_000_000,
            bytes,
            open: false,
        }
    }

    #[test]
    fn the_oldest_continuous_footage_goes_first_and_events_are_kept_longer() {
        let segs =
            [seg(0, true, 0, 100), seg(0, false, 10, 100), seg(0, false, 100, 100), seg(0, true, 200, 100)];
        let limits = Limits { max_bytes: Some(250), ..Limits::default() };
        assert_eq!(plan(&segs, &limits, 0, u64::MAX), vec![1, 2]);
        let limits = Limits { max_bytes: Some(150), ..Limits::default() };
        assert_eq!(plan(&segs, &limits, 0, u64::MAX), vec![1, 2, 0]);
    }

    #[test]
    fn each_rule_deletes_until_it_holds() {
        let now = 10 * DAY_US;
        let mut segs = vec![seg(0, false, 0, 10), seg(0, true, 0, 10), seg(1, false, 8 * 86_400, 10)];
        let days = Limits { days: Some(3), event_days: Some(30), ..Limits::default() };
        assert_eq!(plan(&segs, &days, now, u64::MAX), vec![0], "preview past 3 days; events kept");
        let camera = Limits { camera_max_bytes: Some(10), ..Limits::default() };
        assert_eq!(plan(&segs, &camera, now, u64::MAX), vec![0], "camera 0 over, camera 1 not");
        let floor = Limits { min_free: 100, ..Limits::default() };
        assert_eq!(plan(&segs, &floor, now, 85), vec![0, 2], "until 105 bytes are free");
        // Nothing but the open segment on a full disk: it goes too.
        segs = vec![Seg { open: true, ..seg(0, false, 0, 50) }];
        assert_eq!(plan(&segs, &floor, now, 0), vec![0]);
        assert_eq!(plan(&segs, &days, now, 0), Vec::<usize>::new(), "never by age while written");
        assert!(plan(&[], &floor, now, 0).is_empty());
    }
}
