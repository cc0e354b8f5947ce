// Command etcd is the upstream etcd server at the version k8s.io/kubernetes
// itself requires (go.etcd.io/etcd/server/v3, see ../../go.mod).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
