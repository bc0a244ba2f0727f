"""`edgecnn service`: the systemd unit that runs `edgecnn run` at boot."""
