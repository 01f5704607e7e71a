"""Is the embedded database on a network filesystem? (``submit`` refuses it for multi-node arrays.)

sqlite's WAL mode needs shared memory between the writers, which exists only on one
machine: on NFS, Lustre, GPFS, BeeGFS, CIFS ... array tasks on several nodes would
corrupt the files. The type comes from ``/proc/mounts`` (the longest mount point that
contains the path), as ``stat -f`` reports it.
"""

from __future__ import annotations

import os
from pathlib import Path

from interphases.errors import SchedulerError

#: filesystem types shared between nodes (``/proc/mounts`` names)
NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs", "nfs4", "lustre", "gpfs", "beegfs", "cifs", "smb3", "smbfs", "ceph", "cephfs",
        "glusterfs", "fuse.glusterfs", "fuse.cephfs", "fuse.sshfs", "panfs", "afs", "orangefs",
        "pvfs2", "ocfs2", "gfs2", "wekafs", "fuse.lustre",
    }
)


def _unescape(field: str) -> str:
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def filesystem_type(path: str | Path, mounts: str | Path = "/proc/mounts") -> str | None:
    """Type of the filesystem holding ``path`` (its nearest existing folder), or None if unknown."""
    probe = Path(os.path.abspath(path))
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    probe = probe.resolve()
    try:
        lines = Path(mounts).read_text().splitlines()
    except OSError:
        return None
    best, best_type = "", None
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = _unescape(fields[1])
        inside = str(probe) == point or str(probe).startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, best_type = point, fields[2]
    return best_type


def check_embedded_database_location(
    path: str | Path, nodes: int, mounts: str | Path = "/proc/mounts"
) -> None:
    """Raise :class:`SchedulerError` if tasks on ``nodes`` > 1 nodes would share sqlite files over the network."""
    fstype = filesystem_type(path, mounts)
    if nodes > 1 and fstype is not None and fstype.lower() in NETWORK_FILESYSTEMS:
        raise SchedulerError(
            f"the embedded database {path} is on {fstype}, a network filesystem, and the array tasks can run on "
            f"{nodes} nodes: sqlite files are not safe there. Configure MongoDB in interphases.yaml "
            "(`interphases db config-example --mongodb`), or put the project folder on a node-local disk "
            "and keep the array on one node"
        )
