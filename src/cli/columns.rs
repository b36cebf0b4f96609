//! Columns as serf's CLI lays them out (ryanuber/columnize's defaults): cells
//! trimmed, every column but a line's last padded to the widest cell, two spaces
//! between columns.

pub fn columnize(lines: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for line in lines {
        for (i, cell) in line.iter().enumerate() {
            let w = cell.trim().chars().count();
            match widths.get_mut(i) {
                Some(old) => *old = (*old).max(w),
                None => widths.push(w),
            }
        }
    }
    let mut out = String::new();
    for line in lines {
        for (i, cell) in line.iter().enumerate() {
            let cell = cell.trim();
            if i + 1 == line.len() {
                out.push_str(cell);
            } else {
                let pad = widths[i] - cell.chars().count();
                out.push_str(cell);
                out.extend(std::iter::repeat_n(' ', pad + 2));
            }
        }
        out.push('\n');
    }
    out.pop();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_all_but_the_last_column() {
        let rows = vec![
            vec![
                "serf-1".to_string(),
                "127.0.0.1:7946".into(),
                "alive".into(),
                "role=db".into(),
            ],
            vec![
                "rust-10".to_string(),
                "127.0.0.1:7950".into(),
                "failed".into(),
                "".into(),
            ],
        ];
        assert_eq!(
            columnize(&rows),
            "serf-1   127.0.0.1:7946  alive   role=db\nrust-10  127.0.0.1:7950  failed  "
        );
    }
}
