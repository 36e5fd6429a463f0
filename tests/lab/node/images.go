package main

// Images are never pulled: there is no registry. An image name maps to a local "root" (a directory
// built by build.sh under the node's cache directory) whose bin/ is mounted over /usr/bin and
// /usr/sbin in the container's own mount namespace (/bin and /sbin are symlinks to them on Debian):
//
//	busybox*, alpine*       images/busybox/bin: one busybox binary and a link per applet
//	nginx* (Debian based)   images/nginx/bin:   nginx (Debian's nginx-light), dash as sh, a few coreutils
//	nginx*-alpine*          images/nginx-alpine/bin: nginx and the busybox applets
//
// Anything else cannot be "pulled": ErrImagePull, then ImagePullBackOff, as a kubelet reports it.

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

type Image struct {
	Ref        string
	Repo       string // last path component, without tag or digest
	Tag        string
	Root       string // directory whose bin/ becomes /usr/bin
	Nginx      bool   // runs nginx when the pod gives no command
	NginxPort  int
	DefaultCmd []string
	// The image's USER when not root (nginx-unprivileged runs as 101:101).
	UID, GID *int64
}

// Repository names as the distribution spec allows them (lower case, digits, separators).
var repoComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)

type ImageError struct {
	Reason  string
	Message string
}

func (e *ImageError) Error() string { return e.Message }

// ResolveImage maps an image reference to what the node runs for it.
func ResolveImage(ref, imagesDir string) (*Image, error) {
	name := ref
	if i := strings.Index(name, "@"); i >= 0 {
		name = name[:i]
	}
	tag := "latest"
	last := name
	if i := strings.LastIndex(name, "/"); i >= 0 {
		last = name[i+1:]
	}
	if i := strings.LastIndex(last, ":"); i >= 0 {
		tag = last[i+1:]
		last = last[:i]
	}
	if ref == "" || strings.ContainsAny(ref, " \t\n") || !repoComponent.MatchString(last) {
		return nil, &ImageError{"InvalidImageName", fmt.Sprintf("Failed to apply default image tag %q: couldn't parse image name %q: invalid reference format", ref, ref)}
	}
	img := &Image{Ref: ref, Repo: last, Tag: tag}
	switch {
	case strings.HasPrefix(last, "busybox"):
		img.Root = filepath.Join(imagesDir, "busybox")
		img.DefaultCmd = []string{"sh"}
	case strings.HasPrefix(last, "alpine"):
		img.Root = filepath.Join(imagesDir, "busybox")
		img.DefaultCmd = []string{"/bin/sh"}
	case strings.HasPrefix(last, "nginx"):
		img.Nginx = true
		img.NginxPort = 80
		if strings.Contains(last, "unprivileged") {
			img.NginxPort = 8080
			uid := int64(101)
			img.UID, img.GID = &uid, &uid
		}
		img.Root = filepath.Join(imagesDir, "nginx")
		if strings.Contains(tag, "alpine") {
			img.Root = filepath.Join(imagesDir, "nginx-alpine")
		}
		img.DefaultCmd = []string{"nginx", "-g", "daemon off;"}
	default:
		return nil, &ImageError{"ErrImagePull", fmt.Sprintf(
			"failed to pull and unpack image %q: failed to resolve reference %q: this lab node has no registry; "+
				"it runs busybox*, alpine* and nginx* images only", canonical(ref), canonical(ref))}
	}
	return img, nil
}

// canonical spells a short reference the way container runtimes report it.
func canonical(ref string) string {
	name := ref
	if !strings.Contains(name, "/") {
		name = "library/" + name
	}
	first := strings.SplitN(name, "/", 2)[0]
	if !strings.ContainsAny(first, ".:") && first != "localhost" {
		name = "docker.io/" + name
	}
	last := name[strings.LastIndex(name, "/")+1:]
	if !strings.Contains(last, ":") && !strings.Contains(name, "@") {
		name += ":latest"
	}
	return name
}
