//! Times in the logs: Docker's and env_logger's RFC 3339 UTC times as Unix seconds.

/// Seconds since the Unix epoch of a UTC RFC 3339 time as Docker prints it
/// (`2026-11-25T13:12:00.123456789Z`).
pub fn rfc3339_secs(t: &str) -> Option<f64> {
    let (date, time) = t.strip_suffix('Z')?.split_once('T')?;
    let d: Vec<i64> = date
        .split('-')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let h: Vec<i64> = hms
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    if d.len() != 3 || h.len() != 3 {
        return None;
    }
    // Days from 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    let y = if d[1] <= 2 { d[0] - 1 } else { d[0] };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((d[1] + 9) % 12) + 2) / 5 + d[2] - 1;
    let days = era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
    let secs = days * 86400 + h[0] * 3600 + h[1] * 60 + h[2];
    Some(secs as f64 + format!("0.{frac}").parse::<f64>().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_times_in_seconds() {
        assert_eq!(rfc3339_secs("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(rfc3339_secs("2000-03-01T00:00:01.5Z"), Some(951868801.5));
        let a = rfc3339_secs("2026-11-25T13:12:00.123456789Z").unwrap();
        let b = rfc3339_secs("2026-11-25T13:12:17.623456789Z").unwrap();
        assert!((b - a - 17.5).abs() < 1e-6);
        assert_eq!(
            rfc3339_secs("0001-01-01T00:00:00Z").map(|s| s < 0.0),
            Some(true)
        );
        assert_eq!(rfc3339_secs(""), None);
    }
}
