# ipsift's own vectors for -m devgroup, in the format of iptables' .t
# files (iptables 1.8.11 has none for devgroup). Checked against the
# kernel by TestKernelSaveOwn.
:PREROUTING,INPUT,FORWARD
*mangle
-m devgroup --src-group 2;-m devgroup --src-group 0x2;OK
-m devgroup --src-group 0x17;=;OK
-m devgroup ! --src-group 0xc/0xc;=;OK
-m devgroup --src-group 0;-m devgroup --src-group default;OK
-m devgroup --src-group default;=;OK
-m devgroup ! --src-group 0/0xffffffff;-m devgroup ! --src-group default;OK
-m devgroup --src-group 0x10/010;-m devgroup --src-group 0x10/0x8;OK
-m devgroup --src-group 4294967295/0;-m devgroup --src-group 0xffffffff/0x0;OK
-p tcp --dport 46000 -m devgroup --src-group 23;-p tcp -m tcp --dport 46000 -m devgroup --src-group 0x17;OK
-m devgroup --src-group default/0xf;;FAIL
-m devgroup --src-group 7x;;FAIL
-m devgroup --src-group 1/2x;;FAIL
-m devgroup --src-group 4294967296;;FAIL
-m devgroup --src-group -1;;FAIL
-m devgroup;;FAIL
-m devgroup --src-group 1 --src-group 2;;FAIL
:PREROUTING,INPUT
-m devgroup --dst-group 2;;FAIL
-m devgroup ! --dst-group default;;FAIL
:FORWARD,OUTPUT,POSTROUTING
-m devgroup --dst-group 2;-m devgroup --dst-group 0x2;OK
-m devgroup ! --dst-group 0xc/0xc;=;OK
-m devgroup --dst-group default;=;OK
:OUTPUT,POSTROUTING
-m devgroup --src-group 2;;FAIL
-m devgroup ! --src-group 0/1;;FAIL
:FORWARD
-m devgroup ! --src-group 0x2 --dst-group 0xc/0xc;=;OK
-m devgroup --dst-group 5 ! --src-group 1;-m devgroup ! --src-group 0x1 --dst-group 0x5;OK
:OUTPUT
-m devgroup --src-group 1 --dst-group 1;;FAIL
