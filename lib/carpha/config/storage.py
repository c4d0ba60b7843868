"""A group's storage and filesystems: the mirror, its providers and the
ggate port and unit of a gmirror-ggate group, a local-gmirror's mirror, and
the filesystems in mount order, each mountpoint unique.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

from .limits import BY_HAND, FSCK_MODES, FSTYPES, GEOM_NAME, MOUNT_OPTION, PROVIDER_NAME, STORAGE_KINDS
from .messages import _excerpt, _invalid, _listed, _q
from .model import Filesystem, Ggate, Storage
from .values import _Section, _Unique, _default
from .yamlfile import _line


class _StorageSections:
    """The readers of storage, ggate, providers and filesystems (a part of _Reader)."""

    def _storage(self, node, path: str, line: int, members, nodes, seen) -> Storage:
        section = self.section(node, path, line, {"kind", "mirror", "providers", "ggate"})
        if section is None:
            return Storage("none")
        kind = section.get("kind", lambda n, p: self.choice(
            n, p, STORAGE_KINDS, {"hast": "hast is not supported yet"}), default="gmirror-ggate")
        if kind == BY_HAND:
            for key in ("providers", "ggate"):
                if key in section:
                    self.problem(section.key_line(key), f"{path}.{key}", "only used with kind gmirror-ggate"
                                 " (the kernel assembles a local mirror from whichever drives carry it)")
            mirror = section.get("mirror", lambda n, p: self.name(n, p, GEOM_NAME, "geom name"), required=True)
            if mirror is not None:
                seen["mirror"].add(mirror, mirror, section.key_line("mirror"), f"{path}.mirror")
            return Storage(BY_HAND, mirror)
        if kind != "gmirror-ggate":
            if kind == "none":
                for key in ("mirror", "providers", "ggate"):
                    if key in section:
                        self.problem(section.key_line(key), f"{path}.{key}",
                                     "only used with kind gmirror-ggate")
            return Storage("none")

        kind_line = section.key_line("kind")
        if members is not None and len(members) > 2:
            self.problem(kind_line, f"{path}.kind",
                         f"gmirror-ggate needs exactly 2 nodes in the group, got {len(members)}")
        for member in members or ():
            address = nodes.get(member).address if nodes and member in nodes else None
            if address is not None and address.version != 4:
                # ggatec(8) resolves the peer with inet_addr/gethostbyname.
                self.problem(kind_line, f"{path}.kind", f"gmirror-ggate needs IPv4 node addresses"
                                                        f" (ggatec is IPv4 only), but nodes.{member}.address"
                                                        f" is {address}")

        mirror = section.get("mirror", lambda n, p: self.name(n, p, GEOM_NAME, "geom name"), required=True)
        if mirror is not None:
            seen["mirror"].add(mirror, mirror, section.key_line("mirror"), f"{path}.mirror")
        providers = section.get("providers", lambda n, p: self._providers(
            n, p, section.key_line("providers"), members), required=True)

        ggate = self._ggate(section, path, seen)
        return Storage("gmirror-ggate", mirror, providers or {}, ggate)

    def _ggate(self, storage: _Section, path: str, seen) -> Optional[Ggate]:
        readers = {
            "port": lambda n, p: self.integer(n, p, 1, 65535),
            "unit": lambda n, p: self.integer(n, p, 0, 255),
            "timeout_seconds": lambda n, p: self.integer(n, p, 0, 3600),
            "drop_after_seconds": lambda n, p: self.integer(n, p, 1, 600),
        }
        default = _Section(self, f"{path}.ggate", storage.line, {})
        section = storage.get("ggate", lambda n, p: self.section(
            n, p, storage.key_line("ggate"), set(readers)), default=default)
        if section is None:
            return None
        ggate = Ggate(**{name: section.get(name, read, default=_default(Ggate, name))
                         for name, read in readers.items()})
        self.ggate_lines[path.split(".")[1]] = section.key_line("timeout_seconds") or section.line
        for key in ("port", "unit"):
            value = getattr(ggate, key)
            if value is not None:
                seen[key].add(value, str(value), section.key_line(key), f"{path}.ggate.{key}")
        return ggate

    def _providers(self, node, path: str, line: int, members) -> Optional[Dict[str, str]]:
        section = self.section(node, path, line)
        if section is None:
            return None
        providers: Dict[str, str] = {}
        for member, member_line, value in section.items():
            item_path = f"{path}.{member}"
            if members is not None and member not in members:
                self.problem(member_line, item_path,
                             f"{_excerpt(member)} is not one of the group's nodes ({_listed(members)})")
            provider = self._provider(value, item_path)
            if provider is not None:
                providers[member] = provider
        for member in members or ():
            if member not in section:
                self.problem(line, path, f"no provider for {member}")
        return providers

    def _provider(self, node, path: str) -> Optional[str]:
        value = self.text(node, path)
        if value is None:
            return None
        if value.startswith("/"):
            self.problem(_line(node), path, f"{_q(value)} must be a name under /dev, without /dev/")
        elif not PROVIDER_NAME.fullmatch(value):
            self.problem(_line(node), path, _invalid(value, "provider name", PROVIDER_NAME))
        elif ".." in value.split("/"):
            self.problem(_line(node), path, f"{_q(value)} must not contain '..'")
        else:
            return value
        return None

    def _filesystems(self, node, path: str, seen_mountpoint: _Unique) -> Optional[Tuple[Filesystem, ...]]:
        items = self.sequence(node, path)
        if items is None:
            return None
        result = []
        placed = []     # (mountpoint, line, path) in mount order
        for item_path, item in items:
            section = self.section(item, item_path, _line(item), {
                "device", "mountpoint", "fstype", "fsck", "options"})
            if section is None:
                continue
            device = section.get("device", self.abspath, required=True)
            mountpoint = section.get("mountpoint", self.abspath, required=True)
            fstype = section.get("fstype", self._fstype, default="ufs")
            fsck = section.get("fsck", lambda n, p: self.choice(n, p, FSCK_MODES), default="preen")
            options = section.get("options", lambda n, p: self._names(n, p, MOUNT_OPTION, "mount option"),
                                  default=())
            if mountpoint is not None:
                line = section.key_line("mountpoint")
                seen_mountpoint.add(mountpoint, mountpoint, line, f"{item_path}.mountpoint")
                for earlier, _, earlier_path in placed:
                    if earlier != mountpoint and earlier.startswith(mountpoint.rstrip("/") + "/"):
                        # Mounting the parent later would hide the earlier mount.
                        self.problem(line, f"{item_path}.mountpoint",
                                     f"{mountpoint} must come before {earlier_path} ({earlier}),"
                                     " which is inside it")
                placed.append((mountpoint, line, f"{item_path}.mountpoint"))
            result.append(Filesystem(device, mountpoint, fstype, fsck, options or ()))
        return tuple(result)

    def _fstype(self, node, path: str) -> Optional[str]:
        value = self.text(node, path)
        if value is not None and value not in FSTYPES:
            self.problem(_line(node), path, f"{_q(value)} is not supported yet (only {', '.join(FSTYPES)})")
            return None
        return value
