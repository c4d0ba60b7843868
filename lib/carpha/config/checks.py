"""The checks across sections, once every section is read: the witness must
be a third node (for a local-gmirror group `config check` warns instead
that the witness cannot judge its own machine), and this node's
self-fencing budget and its groups' ggatec -t against the timing rules of
carpha.config.timing.
"""

from __future__ import annotations

from typing import Dict

from .limits import BY_HAND
from .model import Group, Witness
from .timing import fencing_problems, fencing_remedies, ggate_timeout_problems


class _CrossChecks:
    """The checks across sections (a part of _Reader)."""

    def _check_witness_node(self, witness: Witness, groups: Dict[str, Group]) -> None:
        for group in groups.values():
            if witness.node is not None and witness.node in group.nodes and group.storage.kind == BY_HAND:
                # The witness cannot tell whether the machine it lives on is down.
                self.warn(self.witness_node_line, "witness.node",
                          f"{witness.node} is also a node of group {group.name} (local-gmirror): the witness "
                          f"cannot tell whether the machine it lives on is down, so {group.name} moves to "
                          f"another node only when an administrator says so (carpha takeover {group.name})")
            elif witness.node is not None and witness.node in group.nodes:
                self.problem(self.witness_node_line, "witness.node",
                             f"{witness.node} is also a node of group {group.name};"
                             " the witness must be a third node")
                return

    def _check_timing(self, witness: Witness, groups: Dict[str, Group], this: str, watchdog) -> None:
        """This node's fencing budget (not with a watchdog: its reset bounds
        the old master) and its groups' ggate timeouts."""
        for problem in fencing_problems(witness, groups, this) if watchdog is None else ():
            self.problem(getattr(self, "witness_fence_line", 0) or 1, "witness.fence_after_seconds",
                         f"{problem}; {fencing_remedies(witness, groups, this, self.witness_keys)}")
        for name, problem in ggate_timeout_problems(witness, groups, this):
            key = f"groups.{name}.storage.ggate.timeout_seconds"
            self.problem(self.ggate_lines.get(name, 1), key, problem)
