"""The API's HEALTHCHECK: exit 0 when URL answers 2xx."""

import sys
import urllib.request

with urllib.request.urlopen(sys.argv[1], timeout=3) as answer:
    sys.exit(0 if 200 <= answer.status < 300 else 1)
