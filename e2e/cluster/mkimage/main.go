// Command mkimage writes an OCI image archive that `ctr images import`
// accepts, from files on the host, optionally on top of base layers (plain tar
// files, such as a root filesystem). The e2e cluster has no registry: its pause
// and busybox images are made with this, and so are the images of the kind node
// (tools/kindnode.sh).
//
//	mkimage -o busybox.tar -name example.invalid/busybox:e2e \
//	    -file /bin/busybox=/usr/bin/busybox -link /bin/sh=busybox -cmd /bin/sh
//	mkimage -o etcd.tar -name example.invalid/etcd:3.6.8-0 -layer rootfs.tar \
//	    -file /usr/local/bin/etcd=etcd -env PATH=/usr/local/bin:/usr/bin:/bin -cmd etcd
package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run() error {
	var files, links, cmd, layers, env list
	out := flag.String("o", "", "output archive")
	name := flag.String("name", "", "image reference, e.g. example.invalid/pause:e2e")
	flag.Var(&files, "file", "IMAGE_PATH=HOST_PATH, repeatable")
	flag.Var(&links, "link", "IMAGE_PATH=TARGET symlink, repeatable")
	flag.Var(&cmd, "cmd", "entrypoint argument, repeatable")
	flag.Var(&layers, "layer", "uncompressed tar file laid below the files, bottom first, repeatable")
	flag.Var(&env, "env", "NAME=VALUE of the image's environment, repeatable (default PATH=/bin)")
	flag.Parse()
	if *out == "" || *name == "" || len(cmd) == 0 {
		return fmt.Errorf("-o, -name and -cmd are required")
	}

	if len(env) == 0 {
		env = list{"PATH=/bin"}
	}
	var blobs [][]byte
	for _, l := range layers {
		b, err := os.ReadFile(l)
		if err != nil {
			return err
		}
		blobs = append(blobs, b)
	}
	layer, err := buildLayer(files, links)
	if err != nil {
		return err
	}
	blobs = append(blobs, layer)
	var diffIDs []string
	var layerDescs []any
	for _, b := range blobs {
		diffIDs = append(diffIDs, digest(b))
		layerDescs = append(layerDescs, desc("application/vnd.oci.image.layer.v1.tar", b))
	}
	config, _ := json.Marshal(map[string]any{
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"config":       map[string]any{"Entrypoint": []string(cmd), "Env": []string(env)},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        desc("application/vnd.oci.image.config.v1+json", config),
		"layers":        layerDescs,
	})
	mdesc := desc("application/vnd.oci.image.manifest.v1+json", manifest)
	mdesc["platform"] = map[string]string{"architecture": runtime.GOARCH, "os": "linux"}
	mdesc["annotations"] = map[string]string{
		"io.containerd.image.name":          *name,
		"org.opencontainers.image.ref.name": (*name)[strings.LastIndex(*name, ":")+1:],
	}
	index, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests":     []any{mdesc},
	})

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(p string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: p, Mode: 0o644, Size: int64(len(b)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	for _, b := range append(blobs, config, manifest) {
		if err := add("blobs/sha256/"+strings.TrimPrefix(digest(b), "sha256:"), b); err != nil {
			return err
		}
	}
	if err := add("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	if err := add("index.json", index); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return os.WriteFile(*out, buf.Bytes(), 0o644)
}

func buildLayer(files, links list) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	var all []string
	for _, f := range append(append(list{}, files...), links...) {
		p, _, _ := strings.Cut(f, "=")
		for d := path.Dir(strings.TrimPrefix(p, "/")); d != "." && d != "/"; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	for d := range dirs {
		all = append(all, d)
	}
	sort.Strings(all)
	for _, d := range all {
		if err := tw.WriteHeader(&tar.Header{Name: d + "/", Mode: 0o755, Typeflag: tar.TypeDir, ModTime: time.Unix(0, 0)}); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		p, host, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("-file %q: want IMAGE_PATH=HOST_PATH", f)
		}
		b, err := os.ReadFile(host)
		if err != nil {
			return nil, err
		}
		if err := tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(p, "/"), Mode: 0o755, Size: int64(len(b)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(b); err != nil {
			return nil, err
		}
	}
	for _, l := range links {
		p, target, ok := strings.Cut(l, "=")
		if !ok {
			return nil, fmt.Errorf("-link %q: want IMAGE_PATH=TARGET", l)
		}
		if err := tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(p, "/"), Linkname: target, Mode: 0o777, Typeflag: tar.TypeSymlink, ModTime: time.Unix(0, 0)}); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func desc(mediaType string, b []byte) map[string]any {
	return map[string]any{"mediaType": mediaType, "digest": digest(b), "size": len(b)}
}
