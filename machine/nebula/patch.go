package nebula

import (
	"errors"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// The functions here change one key of a config.yml that RenderConfig
// wrote, for the commands that run without the machine's HCL (renew, and
// remove updating the other sidecars' blocklists). They decode the file as
// YAML nodes and encode it again as RenderConfig does, so the result is
// what a fresh render would give, and the next apply finds nothing to do.

// SetCert replaces the certificate (pki.cert) in a rendered config.
func SetCert(conf, certPEM []byte) ([]byte, error) {
	return patchPKI(conf, "cert", ypem(certPEM))
}

// SetBlocklist replaces pki.blocklist in a rendered config (removes it when
// fps is empty).
func SetBlocklist(conf []byte, fps []string) ([]byte, error) {
	if len(fps) == 0 {
		return patchPKI(conf, "blocklist", nil)
	}
	return patchPKI(conf, "blocklist", ylist(fps))
}

// patchPKI sets pki.KEY to v, keeping the key order of RenderConfig: a new
// blocklist goes after key. A nil v deletes the key.
func patchPKI(conf []byte, key string, v *yaml.Node) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(conf, &doc); err != nil {
		return nil, fmt.Errorf("reading the nebula config: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("the nebula config is not a YAML mapping")
	}
	root := doc.Content[0]
	var pki *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "pki" {
			pki = root.Content[i+1]
		}
	}
	if pki == nil || pki.Kind != yaml.MappingNode {
		return nil, errors.New("the nebula config has no pki section")
	}
	for i := 0; i+1 < len(pki.Content); i += 2 {
		if pki.Content[i].Value == key {
			if v == nil {
				pki.Content = append(pki.Content[:i], pki.Content[i+2:]...)
			} else {
				pki.Content[i+1] = v
			}
			return encodeYAML(root)
		}
	}
	if v != nil {
		yamlMap{pki}.set(key, v)
	}
	return encodeYAML(root)
}
