//! Quantities as Cloud Run writes them: CPU, memory and durations, parsed and printed.

use crate::spec::CpuValue;

/// CPU in millicores, if it is a value Cloud Run accepts.
pub fn parse_cpu(v: &CpuValue) -> Option<u32> {
    let text = match v {
        CpuValue::Int(i) => i.to_string(),
        CpuValue::Float(f) => format!("{f}"),
        CpuValue::Text(t) => t.trim().to_string(),
    };
    let milli = if let Some(m) = text.strip_suffix('m') {
        m.parse::<u32>().ok()?
    } else {
        let (whole, frac) = text.split_once('.').unwrap_or((&text, ""));
        if frac.len() > 3 || !frac.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let whole: u32 = whole.parse().ok()?;
        let frac_m: u32 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<3}").parse().ok()?
        };
        whole.checked_mul(1000)?.checked_add(frac_m)?
    };
    match milli {
        80..=999 => Some(milli),
        1000 | 2000 | 4000 | 6000 | 8000 => Some(milli),
        _ => None,
    }
}

/// Memory in MiB from `NNNMi` / `NGi`.
pub fn parse_memory(s: &str) -> Option<u64> {
    let (num, mult) = if let Some(n) = s.strip_suffix("Gi") {
        (n, 1024)
    } else if let Some(n) = s.strip_suffix("Mi") {
        (n, 1)
    } else {
        return None;
    };
    if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit()) || num.len() > 7 {
        return None;
    }
    num.parse::<u64>().ok().map(|n| n * mult).filter(|n| *n > 0)
}

/// Seconds from `300s`, `15m` or `1h`.
pub fn parse_duration(s: &str) -> Option<u32> {
    let (num, mult) = match s.chars().last()? {
        's' => (&s[..s.len() - 1], 1),
        'm' => (&s[..s.len() - 1], 60),
        'h' => (&s[..s.len() - 1], 3600),
        _ => return None,
    };
    if num.is_empty() || num.len() > 6 || !num.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    num.parse::<u32>().ok().map(|n| n * mult)
}

pub fn cpu_text(milli: u32) -> String {
    if milli.is_multiple_of(1000) {
        (milli / 1000).to_string()
    } else {
        let s = format!("{}.{:03}", milli / 1000, milli % 1000);
        s.trim_end_matches('0').to_string()
    }
}

pub fn mib_text(mib: u64) -> String {
    if mib.is_multiple_of(1024) {
        format!("{}Gi", mib / 1024)
    } else {
        format!("{mib}Mi")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_in_millicores() {
        assert_eq!(parse_cpu(&CpuValue::Int(1)), Some(1000));
        assert_eq!(parse_cpu(&CpuValue::Float(0.5)), Some(500));
        assert_eq!(parse_cpu(&CpuValue::Text("250m".into())), Some(250));
        for bad in [
            CpuValue::Int(3),
            CpuValue::Float(0.05),
            CpuValue::Float(1.5),
        ] {
            assert_eq!(parse_cpu(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn memory_and_durations() {
        assert_eq!(parse_memory("512Mi"), Some(512));
        assert_eq!(parse_memory("2Gi"), Some(2048));
        assert_eq!(parse_memory("2GB"), None);
        assert_eq!(parse_memory("0Mi"), None);
        assert_eq!(parse_duration("15m"), Some(900));
        assert_eq!(parse_duration("1h"), Some(3600));
        assert_eq!(parse_duration("300"), None);
    }

    #[test]
    fn quantities_print_as_cloud_run_writes_them() {
        assert_eq!(cpu_text(500), "0.5");
        assert_eq!(cpu_text(2000), "2");
        assert_eq!(mib_text(2048), "2Gi");
        assert_eq!(mib_text(512), "512Mi");
    }
}
