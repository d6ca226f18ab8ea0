"""``python -m course_lib [assets|packages|check]``: OK / FAIL for every asset and package.

A FAIL line says what is wrong and the command that fixes it.
"""

from __future__ import annotations

import sys

from course_lib import assets
from course_lib.device import describe_device


def report(show_packages: bool = True, show_assets: bool = True) -> bool:
    """Print OK / FAIL lines; return True when everything is OK."""
    ok = True
    if show_packages:
        print("Packages")
        for name, good, info in assets.check_packages():
            ok &= good
            print(f"  {'OK  ' if good else 'FAIL'} {name:<14} {info}")
    if show_assets:
        print("Assets (sha256 checked)")
        reg = assets.registry()
        for name, good, info in assets.check_all():
            ok &= good
            a = reg.get(name)
            detail = f"{a.size_mb:>6.1f} MB  {a.licence.split(';')[0][:40]}" if good and a else info
            print(f"  {'OK  ' if good else 'FAIL'} {name:<24} {detail}")
    print(describe_device())
    return ok


def main(argv: list[str]) -> int:
    what = argv[0] if argv else "check"
    if what not in ("assets", "packages", "check"):
        print(__doc__)
        return 2
    good = report(show_packages=what != "assets", show_assets=what != "packages")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
