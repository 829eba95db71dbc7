# Labels may not start or end with '-', nor be empty.
machine "-web" {} # ERROR: starts or ends with '-'
machine "web-" {} # ERROR: starts or ends with '-'
machine "web.-x" {} # ERROR: starts or ends with '-'
machine "a..b" {} # ERROR: empty label
machine ".a" {} # ERROR: empty label
machine "a." {} # ERROR: empty label
machine "web-1.example" {}
