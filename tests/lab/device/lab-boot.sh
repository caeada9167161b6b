#!/bin/sh
# Early at every boot of the lab device (lab-boot.service, before sysinit.target and docker.service):
# undo two things Docker does to a container that a real device does not have.
set -eu

# 1. Docker bind-mounts /etc/hostname, so hostnamectl (which replaces the file) would fail with EBUSY.
#    Drop the bind mount: the device's own /etc/hostname takes the name Docker gave the container at
#    first boot; later boots keep whatever the device set (hostnamectl), like a real machine.
marker=/var/lib/lab-boot.hostname-initialised
given=$(cat /etc/hostname)
if grep -q ' /etc/hostname ' /proc/self/mountinfo; then
    umount /etc/hostname
fi
if [ ! -e "$marker" ]; then
    printf '%s\n' "$given" > /etc/hostname
    : > "$marker"
fi
hostname "$(cat /etc/hostname)"

# 2. Docker's resolv.conf says `options ndots:0`; the device's engine copies that option into its
#    containers, and then its embedded DNS refuses to forward single-label names (lab-target, ...).
#    Keep the nameserver, drop the option (in place: the file is a bind mount).
if grep -q '^options ndots' /etc/resolv.conf; then
    resolv=$(grep -v '^options ndots' /etc/resolv.conf)
    printf '%s\n' "$resolv" > /etc/resolv.conf
fi
