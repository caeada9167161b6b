"""The channel follower: keeps the device's checkout on its channel's branch, signed commits only."""
