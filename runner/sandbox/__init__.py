"""Throwaway local servers: the mariadbd that the demo, the tests and the benchmarks start
and remove, the demo's mail relay, DNS zone and certificates, and the demo target built
from them (with the faults `deploycheck demo --break` knows)."""
