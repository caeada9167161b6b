#!/bin/sh
# Replace Docker's bind-mounted /etc/hostname by the device's own file (see the Dockerfile).
# First boot: the device's file takes the name Docker gave the container. Later boots keep
# whatever the device set (hostnamectl), like a real machine.
set -eu
marker=/var/lib/lab-hostname.initialised
given=$(cat /etc/hostname)
if mountpoint -q /etc/hostname || grep -q ' /etc/hostname ' /proc/self/mountinfo; then
    umount /etc/hostname
fi
if [ ! -e "$marker" ]; then
    printf '%s\n' "$given" > /etc/hostname
    : > "$marker"
fi
hostname "$(cat /etc/hostname)"
