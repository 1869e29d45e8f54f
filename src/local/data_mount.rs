//! Whether the volume a service mounts for its data really holds Postgres's data directory.
//! The official image moved PGDATA in 18 (`/var/lib/postgresql/18/docker`, under a VOLUME at
//! `/var/lib/postgresql`) and refuses the old mount at `/var/lib/postgresql/data`; a 17 image
//! mounted at `/var/lib/postgresql` silently writes into its own anonymous volume instead. Both
//! are decided here from the container's real PGDATA and mounts, not from the image's tag.

use std::path::Path;

/// The official images' data folder root: every major's PGDATA lies under it.
const POSTGRES_HOME: &str = "/var/lib/postgresql";

/// A service volume that misses the data directory, and where it should go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Misplaced {
    /// The service's mount target that does not hold PGDATA.
    pub target: String,
    /// Where the data goes instead: an anonymous volume of the image, or the container itself.
    pub data_in_anonymous_volume: bool,
    /// The target to mount the volume at instead.
    pub suggested_target: String,
}

/// `declared`: the service's own mount targets; `mounts`: every mount the container has
/// (declared ones plus the anonymous volumes its image declares). None when PGDATA lies in a
/// declared mount, or when the service mounts nothing that looks meant for the data.
pub fn misplaced(pgdata: &str, declared: &[&str], mounts: &[&str]) -> Option<Misplaced> {
    let is_declared = |target: &str| declared.iter().any(|d| normalized(d) == normalized(target));
    // The deepest mount holding PGDATA is where the files land.
    let holder = mounts
        .iter()
        .chain(declared)
        .filter(|target| contains(target, pgdata))
        .max_by_key(|target| Path::new(target).components().count());
    if holder.is_some_and(|h| is_declared(h)) {
        return None;
    }
    let meant_for_data = declared.iter().find(|target| {
        contains(POSTGRES_HOME, target) || contains(target, pgdata) || contains(pgdata, target)
    })?;
    Some(Misplaced {
        target: normalized(meant_for_data).to_string(),
        data_in_anonymous_volume: holder.is_some(),
        suggested_target: suggested_target(pgdata, holder.copied()),
    })
}

/// `/var/lib/postgresql` for the 18+ layout (`.../<major>/docker`, so one volume serves every
/// major and `pg_upgrade --link` works), else the image's own volume that holds PGDATA, else
/// PGDATA itself.
fn suggested_target(pgdata: &str, image_volume: Option<&str>) -> String {
    let in_major_folder = Path::new(pgdata)
        .strip_prefix(POSTGRES_HOME)
        .ok()
        .and_then(|rest| {
            let parts: Vec<_> = rest.iter().map(|p| p.to_string_lossy()).collect();
            (parts.len() == 2 && parts[1] == "docker" && parts[0].parse::<u32>().is_ok())
                .then_some(())
        })
        .is_some();
    if in_major_folder {
        POSTGRES_HOME.to_string()
    } else {
        normalized(image_volume.unwrap_or(pgdata)).to_string()
    }
}

/// True when `path` is `dir` or lies below it (whole components: `/data2` is not in `/data`).
fn contains(dir: &str, path: &str) -> bool {
    Path::new(path).starts_with(Path::new(dir))
}

fn normalized(target: &str) -> &str {
    match target.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "/var/lib/postgresql/data";
    const HOME: &str = "/var/lib/postgresql";
    const PG18: &str = "/var/lib/postgresql/18/docker";

    #[test]
    fn an_18_image_with_the_old_mount_is_caught() {
        // The official 18 image: its VOLUME at /var/lib/postgresql becomes an anonymous volume.
        assert_eq!(
            misplaced(PG18, &[OLD], &[OLD, HOME]),
            Some(Misplaced {
                target: OLD.into(),
                data_in_anonymous_volume: true,
                suggested_target: HOME.into(),
            })
        );
        // An image without that VOLUME: the data would stay in the container.
        assert_eq!(
            misplaced(PG18, &[OLD], &[OLD]),
            Some(Misplaced {
                target: OLD.into(),
                data_in_anonymous_volume: false,
                suggested_target: HOME.into(),
            })
        );
    }

    #[test]
    fn a_17_image_mounted_at_the_18_place_is_caught() {
        // The official 17 image declares VOLUME /var/lib/postgresql/data inside the mount.
        assert_eq!(
            misplaced(OLD, &[HOME], &[HOME, OLD]),
            Some(Misplaced {
                target: HOME.into(),
                data_in_anonymous_volume: true,
                suggested_target: OLD.into(),
            })
        );
    }

    #[test]
    fn mounts_that_hold_the_data_pass() {
        assert_eq!(misplaced(PG18, &[HOME], &[HOME]), None);
        assert_eq!(misplaced(OLD, &[OLD], &[OLD]), None);
        assert_eq!(misplaced(OLD, &["/var/lib/postgresql/data/"], &[OLD]), None);
        // A 17 image without a VOLUME (devdb's stand-in) mounted one level up keeps its data.
        assert_eq!(misplaced(OLD, &[HOME], &[HOME]), None);
        // PGDATA moved into the old mount on purpose works with 18 too.
        let custom = "/var/lib/postgresql/data/pgdata";
        assert_eq!(misplaced(custom, &[OLD], &[OLD, HOME]), None);
    }

    #[test]
    fn services_that_mount_no_data_volume_are_left_alone() {
        assert_eq!(misplaced(PG18, &[], &[HOME]), None);
        assert_eq!(
            misplaced(
                PG18,
                &["/docker-entrypoint-initdb.d"],
                &["/docker-entrypoint-initdb.d", HOME]
            ),
            None
        );
        assert_eq!(misplaced("/srv/pg", &["/var/lib/postgresql2"], &[]), None);
    }

    #[test]
    fn a_custom_pgdata_outside_every_mount_suggests_itself() {
        assert_eq!(
            misplaced("/srv/pg/data", &["/srv/pg/other"], &["/srv/pg/other"]),
            None,
            "a sibling folder is not evidence of a data mount"
        );
        assert_eq!(
            misplaced("/srv/pg", &["/srv/pg/data"], &["/srv/pg/data"]),
            Some(Misplaced {
                target: "/srv/pg/data".into(),
                data_in_anonymous_volume: false,
                suggested_target: "/srv/pg".into(),
            })
        );
    }
}
