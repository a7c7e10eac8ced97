
gw-1temp 