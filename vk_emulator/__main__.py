"""`python -m vk_emulator`: run one emulator for people and print its URL (Ctrl-C stops)."""
from __future__ import annotations

import argparse
import time

from .emulator import VKEmulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a local VK API + Bots Long Poll emulator.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--group-id", type=int, default=1)
    parser.add_argument("--token", default="test-token")
    args = parser.parse_args(argv)
    with VKEmulator(token=args.token, group_id=args.group_id, port=args.port) as emulator:
        print(f"VK emulator for group {emulator.group_id}: api_url {emulator.api_url}")
        print("Use the token given with --token (default: test-token). Ctrl-C stops.", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
