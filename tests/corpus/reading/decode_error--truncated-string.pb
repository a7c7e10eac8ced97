
tem