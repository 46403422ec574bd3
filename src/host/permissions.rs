//! Why the exporter may not open a socket or look into a folder, and the fix, in an operator's words.
//!
//! Connecting to a unix socket needs **write** permission on the socket file and search (`x`)
//! permission on every folder above it. A Go listener creates its socket with the process's
//! umask (0755 under the usual 022), so the socket's group may not connect either: adding the
//! exporter to that group is not enough on its own. The hints here say which of these refused.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The owner, group and permission bits of a file, with names where `/etc/passwd` and
/// `/etc/group` have them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ownership {
    pub owner: String,
    pub group: String,
    /// The permission bits (`mode & 0o777`).
    pub mode: u32,
}

impl Ownership {
    /// The ownership of `path` itself (not following a final symlink), `None` when it cannot be
    /// read (missing, or a folder above it refuses search).
    pub fn of(path: &Path) -> Option<Ownership> {
        let meta = std::fs::symlink_metadata(path).ok()?;
        Some(Ownership {
            owner: user_name(meta.uid()).unwrap_or_else(|| format!("uid {}", meta.uid())),
            group: group_name(meta.gid()).unwrap_or_else(|| format!("gid {}", meta.gid())),
            mode: meta.mode() & 0o777,
        })
    }
}

/// What the exporter's own process is (who asks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asker {
    /// Its user, as a name where one is known.
    pub user: String,
    /// True when the file's group is among its groups.
    pub in_group: bool,
}

/// The hint for a socket that refused the exporter with EACCES: the folder above it when one
/// refuses search, else the socket's own mode. Empty when the socket cannot be looked at.
pub fn socket_hint(socket: &Path) -> String {
    if let Some(folder) = unsearchable_folder(socket) {
        return folder_hint(&folder, "the socket");
    }
    let Ok(meta) = std::fs::symlink_metadata(socket) else {
        return String::new();
    };
    let Some(file) = Ownership::of(socket) else {
        return String::new();
    };
    socket_hint_for(&file, &asker(meta.gid()))
}

/// The hint for a socket of `file` ownership refusing `asker` (pure, see [`socket_hint`]).
pub fn socket_hint_for(file: &Ownership, asker: &Asker) -> String {
    let Ownership { owner, group, mode } = file;
    let said = format!(" (owned by {owner}:{group}, mode {mode:03o})");
    let options = format!(
        "make the socket group-writable after each start of the follower (it is created anew: \
         `chmod g+w` in an ExecStartPost), start the follower with umask 002 (UMask=0002 in its \
         unit), or run the exporter as {owner}"
    );
    if mode & 0o020 == 0 {
        format!(
            "{said}: connecting to a unix socket needs write permission, and its group {group} has none, \
             so joining the group is not enough: {options}"
        )
    } else if !asker.in_group {
        format!(
            "{said}: connecting needs write permission, which its group {group} has: add the exporter's \
             user {} to the group {group} (then restart the exporter), or run the exporter as {owner}",
            asker.user
        )
    } else {
        format!(
            "{said}: the exporter's user {} is in the group {group}, which may write; is the \
             exporter running with that group (restart it after adding the group)?",
            asker.user
        )
    }
}

/// The hint for a folder the exporter may not list or search: who owns it and the fix.
/// `what` says what is inside ("the socket", "its service.json").
pub fn folder_hint(folder: &Path, what: &str) -> String {
    let (said, owner) = match Ownership::of(folder) {
        Some(Ownership { owner, group, mode }) => (
            format!(" (owned by {owner}:{group}, mode {mode:03o})"),
            owner,
        ),
        None => (String::new(), "its owner".to_string()),
    };
    format!(
        ": the exporter may not look into {}{said}, which holds {what}: run the exporter as {owner}, \
         or give it read and search permission (for example `chmod 0750` and the exporter's user in \
         the folder's group)",
        folder.display()
    )
}

/// The outermost folder above `path` that the exporter may not search (`x`), if any: the one
/// to open up first (every folder below it then refuses too).
pub fn unsearchable_folder(path: &Path) -> Option<std::path::PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let mut unsearchable = None;
    for folder in path.ancestors().skip(1) {
        if folder.as_os_str().is_empty() {
            continue;
        }
        let Ok(c_path) = std::ffi::CString::new(folder.as_os_str().as_bytes()) else {
            continue;
        };
        // SAFETY: a valid NUL-terminated path; access(2) only reads it.
        if unsafe { libc::access(c_path.as_ptr(), libc::X_OK) } != 0 {
            unsearchable = Some(folder.to_path_buf());
        }
    }
    unsearchable
}

/// The exporter's effective uid.
pub fn own_uid() -> u32 {
    // SAFETY: geteuid never fails.
    unsafe { libc::geteuid() }
}

/// The owner (uid) of a file or folder itself, `None` when it cannot be looked at.
pub fn owner_of(path: &Path) -> Option<u32> {
    std::fs::symlink_metadata(path).ok().map(|meta| meta.uid())
}

/// Who the exporter is, relative to a file of group `gid`.
fn asker(gid: u32) -> Asker {
    // SAFETY: geteuid/getegid never fail.
    let (uid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
    Asker {
        user: user_name(uid).unwrap_or_else(|| format!("uid {uid}")),
        in_group: egid == gid || supplementary_groups().contains(&gid),
    }
}

fn supplementary_groups() -> Vec<u32> {
    // SAFETY: the first call asks for the count; the second fills a buffer of that size.
    unsafe {
        let n = libc::getgroups(0, std::ptr::null_mut());
        if n <= 0 {
            return Vec::new();
        }
        let mut groups = vec![0 as libc::gid_t; n as usize];
        let got = libc::getgroups(n, groups.as_mut_ptr());
        groups.truncate(got.max(0) as usize);
        groups
    }
}

/// The largest `/etc/passwd` or `/etc/group` read.
const ACCOUNTS_FILE_CAP: u64 = 1 << 20;

fn read_accounts_file(path: &str) -> Option<String> {
    let raw = crate::host::files::read_capped(Path::new(path), ACCOUNTS_FILE_CAP).ok()??;
    String::from_utf8(raw).ok()
}

/// `/etc/passwd` as text, read with a cap; `None` when it cannot be read.
pub fn read_passwd() -> Option<String> {
    read_accounts_file("/etc/passwd")
}

/// The user name for a uid, from `/etc/passwd`.
pub fn user_name(uid: u32) -> Option<String> {
    name_in(&read_passwd()?, uid)
}

/// The group name for a gid, from `/etc/group`.
pub fn group_name(gid: u32) -> Option<String> {
    name_in(&read_accounts_file("/etc/group")?, gid)
}

/// The name whose third field is `id` in a passwd- or group-format text.
pub fn name_in(text: &str, id: u32) -> Option<String> {
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let _password = fields.next()?;
        let line_id: u32 = fields.next()?.parse().ok()?;
        (line_id == id).then(|| name.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(mode: u32) -> Ownership {
        Ownership {
            owner: "ipfs".into(),
            group: "ipfs".into(),
            mode,
        }
    }

    fn member(in_group: bool) -> Asker {
        Asker {
            user: "prometheus".into(),
            in_group,
        }
    }

    #[test]
    fn a_socket_without_group_write_says_joining_the_group_is_not_enough() {
        for in_group in [true, false] {
            let hint = socket_hint_for(&file(0o755), &member(in_group));
            assert!(hint.contains("mode 755"), "{hint}");
            assert!(hint.contains("needs write permission"), "{hint}");
            assert!(hint.contains("joining the group is not enough"), "{hint}");
            assert!(hint.contains("umask 002"), "{hint}");
            assert!(hint.contains("chmod g+w"), "{hint}");
            assert!(hint.contains("run the exporter as ipfs"), "{hint}");
            assert!(!hint.contains("add the exporter"), "{hint}");
        }
    }

    #[test]
    fn a_group_writable_socket_says_join_the_group() {
        let hint = socket_hint_for(&file(0o775), &member(false));
        assert!(
            hint.contains("add the exporter's user prometheus to the group ipfs"),
            "{hint}"
        );
        let hint = socket_hint_for(&file(0o770), &member(true));
        assert!(hint.contains("restart it"), "{hint}");
    }

    #[test]
    fn names_come_from_the_third_field() {
        let text = "root:x:0:\nipfs:x:1001:alice,bob\n";
        assert_eq!(name_in(text, 1001).as_deref(), Some("ipfs"));
        assert_eq!(name_in(text, 0).as_deref(), Some("root"));
        assert_eq!(name_in(text, 7), None);
    }
}
