"""The privileged cmds service: runs the signed `custom_cmds` maintenance schedule on the host.

Owners schedule package upgrades, firewall changes or reboots on devices they cannot reach by
committing a signed `custom_cmds` file to the device's channel. This service fetches it, checks the
signature against the key postinstall installed, and runs every due entry exactly once.
"""
