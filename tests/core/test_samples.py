"""The ifstated sample starts in a state that runs no hook and branches on
the real CARP state (so starting or reloading ifstated on a MASTER never
sends BACKUP), and the devd rule's comment tells the truth about priorities."""

import os
import re

from conftest import ROOT


def states(text):
    """{state name: body} of an ifstated.conf, and its init-state."""
    init = re.search(r"^init-state (\S+)$", text, re.M).group(1)
    found, name, depth, body = {}, None, 0, []
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        start = re.match(r"^state (\S+) \{$", line)
        if start and name is None:
            name, depth, body = start.group(1), 1, []
            continue
        if name is not None:
            depth += line.count("{") - line.count("}")
            if depth == 0:
                found[name] = "\n".join(body)
                name = None
            else:
                body.append(line)
    return init, found


def test_ifstated_starts_in_a_neutral_state_that_runs_no_hook():
    text = open(os.path.join(ROOT, "ifstated", "ifstated.conf.sample")).read()
    init, found = states(text)
    start = found[init]
    assert "run " not in start and "init" not in start
    assert re.search(r"if \$web_master\s+set-state web_master", start)
    assert re.search(r"if ! \$web_master\s+set-state web_backup", start)
    assert 'run "/usr/local/libexec/carpha/carp-event 1@em0 MASTER"' in found["web_master"]
    assert 'run "/usr/local/libexec/carpha/carp-event 1@em0 BACKUP"' in found["web_backup"]


def test_devd_rule_comment_names_the_base_rule_at_the_same_priority():
    text = open(os.path.join(ROOT, "devd", "carpha.conf")).read()
    assert "notify 200 {" in text
    assert "growfs_postboot.conf" in text and "stable sort" in text
    assert "base rules go up to 100" not in text
