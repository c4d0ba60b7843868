"""parse_mount on `mount` and `mount -p` output."""

import os

import pytest

from conftest import SAMPLES
from carpha.freebsd import ParseError
from carpha.freebsd.mount import parse_mount

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "freebsd")


def read(*parts):
    with open(os.path.join(*parts)) as f:
        return f.read()


def test_capture_gives_device_mountpoint_fstype_and_options_with_blanks():
    assert parse_mount(read(SAMPLES, "mount", "kusaeni-after-remount-rw-suj.txt")) == [
        {"device": "/dev/vtbd0s1a", "mountpoint": "/", "fstype": "ufs",
         "options": ["local", "soft-updates", "journaled soft-updates"]},
        {"device": "devfs", "mountpoint": "/dev", "fstype": "devfs", "options": []},
    ]


def test_device_and_mountpoint_with_blanks_and_mounted_by():
    mounts = {m["mountpoint"]: m for m in parse_mount(read(FIXTURES, "mount-plain-several.txt"))}
    assert (mounts["/net"]["device"], mounts["/net"]["fstype"]) == ("map -hosts", "autofs")
    assert mounts["/tmp/user dir"]["options"] == ["local", "mounted by alice"]
    assert mounts["/data"] == {"device": "/dev/mirror/data", "mountpoint": "/data", "fstype": "ufs",
                               "options": ["local", "noatime", "soft-updates"]}


def test_fstab_style_lines_of_mount_p():
    mounts = parse_mount(read(FIXTURES, "mount-p-fstab-style.txt"))
    assert [(m["device"], m["mountpoint"], m["fstype"], m["options"], m["passno"]) for m in mounts] == [
        ("/dev/vtbd0s1a", "/", "ufs", ["rw"], 1),
        ("devfs", "/dev", "devfs", ["rw"], 0),
        ("/dev/mirror/data", "/data", "ufs", ["noatime"], 2),
        ("/data/jails/base", "/data/jails/web/usr/local/base", "nullfs", ["ro", "nosuid"], 0),
    ]


@pytest.mark.parametrize("text,lineno", [
    ("/dev/ada0p2 on / (ufs, local\n", 1),
    ("devfs on /dev (devfs)\n/dev/ada0p2 /\n", 2),
    ("/dev/md0 on /mnt (, local)\n", 1),
    ("/dev/md 0\t/mnt\tufs\trw\t2 2\n", 1),
])
def test_text_that_is_not_mount_output_raises_parse_error_on_its_line(text, lineno):
    with pytest.raises(ParseError) as excinfo:
        parse_mount(text)
    assert excinfo.value.lineno == lineno
