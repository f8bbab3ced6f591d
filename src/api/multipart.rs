//! The little of multipart/form-data (RFC 7578) an upload needs: the boundary, and the file
//! part of a body read whole.

/// The boundary of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_owned())
            .filter(|b| !b.is_empty())
    })
}

/// The part named `file` (else the first part with a file name): its file name and bytes.
pub fn file_part(body: &[u8], boundary: &str) -> Option<(Option<String>, Vec<u8>)> {
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut rest = body;
    // The preamble, then each part up to the next delimiter.
    let start = find(rest, delimiter.as_bytes())?;
    rest = &rest[start + delimiter.len()..];
    loop {
        if rest.starts_with(b"--") {
            break;
        }
        let Some(end) = find(rest, format!("\r\n{delimiter}").as_bytes()) else {
            break;
        };
        let part = rest.get(2..end).unwrap_or_default();
        rest = &rest[end + 2 + delimiter.len()..];
        let Some(split) = find(part, b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&part[..split]).into_owned();
        let disposition = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))
            .unwrap_or("")
            .to_owned();
        parts.push((
            param(&disposition, "name"),
            param(&disposition, "filename"),
            part[split + 4..].to_vec(),
        ));
    }
    let pick = parts
        .iter()
        .position(|(n, _, _)| n.as_deref() == Some("file"))
        .or_else(|| parts.iter().position(|(_, f, _)| f.is_some()))?;
    let (_, file_name, bytes) = parts.swap_remove(pick);
    Some((file_name, bytes))
}

fn param(disposition: &str, name: &str) -> Option<String> {
    disposition.split(';').skip(1).find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_part_of_a_form() {
        let body = b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"new hires.csv\"\r\nContent-Type: text/csv\r\n\r\nuser name\r\nli\r\n\r\n--XyZ--\r\n";
        assert_eq!(
            boundary("multipart/form-data; boundary=\"XyZ\"").as_deref(),
            Some("XyZ")
        );
        let (name, bytes) = file_part(body, "XyZ").expect("file part");
        assert_eq!(name.as_deref(), Some("new hires.csv"));
        assert_eq!(bytes, b"user name\r\nli\r\n");
        assert!(file_part(b"--XyZ--\r\n", "XyZ").is_none());
        assert!(file_part(b"garbage", "XyZ").is_none());
        assert_eq!(boundary("multipart/form-data"), None);
    }
}
