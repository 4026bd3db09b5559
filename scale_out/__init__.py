"""Past one process and one host: aiohttp behind nginx, and a cluster of hosts on one machine."""
