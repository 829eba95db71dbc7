zone "my.zone" {} # ERROR: Invalid zone name
zone "my zone" {} # ERROR: Invalid zone name
zone "-z" {} # ERROR: Invalid zone name
zone "" {} # ERROR: Invalid zone name
zone "z_1" {} # ERROR: Invalid zone name
