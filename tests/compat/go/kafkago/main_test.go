// kafka-go (github.com/segmentio/kafka-go) against a three-node Brook
// cluster, every topic at replication factor 3.
package kafkago_test

import (
	"testing"

	"github.com/brook/brook/tests/compat/go/internal/brook"
)

// cluster is shared by the package's tests; TestMain starts and stops it.
var cluster *brook.Cluster

func TestMain(m *testing.M) {
	brook.Main(m, 3, func(c *brook.Cluster) { cluster = c })
}
