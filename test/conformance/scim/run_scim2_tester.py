"""Runs scim2-tester's check_server against one SCIM base URL and prints each result as JSON lines.

Usage: run_scim2_tester.py <base-url> <bearer-token>
Called by test/conformance/scim2_tester.test.ts with the venv scripts/setup.sh makes.
"""

import json
import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import check_server


def main() -> None:
    base_url, token = sys.argv[1], sys.argv[2]
    http = Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    client = SyncSCIMClient(http)
    for result in check_server(client):
        print(
            json.dumps(
                {
                    "title": result.title,
                    "status": result.status.name,
                    "description": result.description,
                    "reason": result.reason,
                    "resource_type": getattr(result, "resource_type", None),
                    "tags": sorted(result.tags or []),
                },
                default=str,
            )
        )


if __name__ == "__main__":
    main()
