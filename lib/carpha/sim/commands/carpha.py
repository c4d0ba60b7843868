"""carpha's own helper commands as the simulated host runs them.

`carpha-garp` sends real frames on FreeBSD (carpha.host.garp); here its argv is
checked by the same parser and the announcement is recorded in the host's
log (the repeat burst is detached on a real host, so it costs no time)."""

from ...host.garp import USAGE, frames_for, parse_args
from ..executor import command


@command("carpha-garp")
def carpha_garp(ctx):
    try:
        count, repeat, delay, mac, ifname, addresses = parse_args(ctx.args)
    except ValueError as error:
        ctx.usage(f"carpha-garp: {error}\n{USAGE}", 64)
    if ifname not in ctx.host.interfaces:
        ctx.fail(f"{ifname}: BIOCSETIF on /dev/bpf: Device not configured")
    frames = len(frames_for(mac, addresses)) * count
    shown = " ".join(str(a) for a in addresses)
    ctx.host.log("carpha-garp", f"announced {shown} on {ifname} from {mac.hex(':')}: {frames} frames, "
                                f"{repeat} more rounds after {delay:g} s")
    return 0
