†9@
PjU"„ÔLÚ’ƒY[d^k~YÌ„Ld