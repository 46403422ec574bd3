//! Users' names and home directories in a `/etc/passwd`-format text (the caller reads the file once).

use std::path::PathBuf;

/// The home directory of `uid` in a passwd-format text.
pub fn home_dir_in(passwd: &str, uid: u32) -> Option<PathBuf> {
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        let line_uid: u32 = fields.get(2)?.parse().ok()?;
        let home = fields.get(5).filter(|h| !h.is_empty())?;
        (line_uid == uid).then(|| PathBuf::from(home))
    })
}

/// The user name for a uid in a passwd-format text.
pub fn user_name_in(passwd: &str, uid: u32) -> Option<String> {
    crate::host::permissions::name_in(passwd, uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_up_user_names() {
        let passwd =
            "root:x:0:0:root:/root:/bin/bash\nlotus:x:1001:1001::/home/lotus:/bin/sh\nbroken\n";
        assert_eq!(user_name_in(passwd, 1001), Some("lotus".into()));
        assert_eq!(user_name_in(passwd, 5), None);
        assert_eq!(
            home_dir_in(passwd, 1001),
            Some(PathBuf::from("/home/lotus"))
        );
        assert_eq!(home_dir_in(passwd, 0), Some(PathBuf::from("/root")));
        assert_eq!(home_dir_in(passwd, 7), None);
    }
}
