
a/bc+d 