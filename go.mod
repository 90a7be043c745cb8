module github.com/ipsift/ipsift

go 1.26.8
