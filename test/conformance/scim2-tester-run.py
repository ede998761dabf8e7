"""Runs the third-party SCIM conformance suite scim2-tester against a running Roster.

Usage: python scim2-tester-run.py BASE_URL TOKEN
Prints one JSON object per check on stdout (status, title, resource type, reason, tags); the
vitest file test/conformance/scim2-tester.test.ts starts the app, runs this and asserts on them.
"""

import json
import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import check_server


def main() -> None:
    base_url, token = sys.argv[1], sys.argv[2]
    http = Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    scim = SyncSCIMClient(http)
    for result in check_server(scim):
        print(
            json.dumps(
                {
                    "status": result.status.name,
                    "title": result.title,
                    "resourceType": result.resource_type,
                    "reason": result.reason,
                    "tags": sorted(result.tags),
                    "urn": result.data.get("urn") if isinstance(result.data, dict) else None,
                    "data": repr(result.data)[:2000] if result.data is not None else None,
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
