package cluster

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"

	"gopkg.in/yaml.v3"
)

// Sims asks for simulated back offices, each run as its own process
// (`casebridge sim <name>`), with the configuration's back office of that
// name pointed at it and the webhook of the first api as where it pushes its
// changes.
type Sims struct {
	// Names are the simulators to run: highways, waste.
	Names []string
	// Args are added to every simulator's command line (--step, faults).
	Args []string
	// Timeout and PollEvery, when set, replace the back offices' timeout and
	// poll_every in the configuration ("3s", "10s").
	Timeout, PollEvery string
}

// simEnv are the credentials `casebridge sim` and the demo configuration
// name, made up afresh for each cluster.
var simEnv = []string{"HIGHWAYS_API_TOKEN", "HIGHWAYS_WEBHOOK_SECRET", "WASTE_API_USER", "WASTE_API_PASSWORD", "WASTE_WEBHOOK_SECRET"}

// planSims gives each asked-for simulator a port, points the configuration
// at it and adds the credentials both sides read to the cluster's
// environment. It returns the edited configuration.
func (c *Cluster) planSims(config []byte) ([]byte, error) {
	s := c.opts.Sims
	if len(s.Names) == 0 {
		return config, nil
	}
	ports, err := freePorts(len(s.Names))
	if err != nil {
		return nil, err
	}
	addrs := map[string]string{}
	for i, name := range s.Names {
		addrs[name] = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[i]))
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(config, &doc); err != nil {
		return nil, err
	}
	offices := mapValue(doc.Content[0], "back_offices")
	if offices == nil {
		return nil, fmt.Errorf("the configuration has no back_offices to point at simulators")
	}
	for _, b := range offices.Content {
		name := mapValue(b, "name")
		if name == nil || addrs[name.Value] == "" {
			continue
		}
		setMapValue(b, "url", "http://"+addrs[name.Value])
		if s.Timeout != "" {
			setMapValue(b, "timeout", s.Timeout)
		}
		if s.PollEvery != "" {
			setMapValue(b, "poll_every", s.PollEvery)
		}
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, err
	}
	for _, k := range simEnv {
		c.env = append(c.env, k+"="+rand.Text())
	}
	c.Sims = map[string]*Process{}
	for _, name := range s.Names {
		base := "http://" + addrs[name]
		c.Sims[name] = &Process{
			Name:    "sim-" + name,
			URL:     base,
			path:    c.Bin.Casebridge,
			args:    slices.Concat([]string{"sim", name, "--addr", addrs[name]}, s.Args),
			logPath: filepath.Join(c.Dir, "sim-"+name+".log"),
			ready:   func(ctx context.Context) error { return answers200(ctx, base+"/admin/faults") },
		}
	}
	return out, nil
}

// startSims starts the simulators, pushing their changes to webhookBase's
// /api/v1/backoffices/{name}/events.
func (c *Cluster) startSims(ctx context.Context, webhookBase string) error {
	for _, name := range c.opts.Sims.Names {
		p := c.Sims[name]
		p.env = c.env
		p.args = append(p.args, "--webhook", webhookBase+"/api/v1/backoffices/"+name+"/events")
		if err := p.Start(ctx); err != nil {
			return err
		}
	}
	return nil
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func setMapValue(m *yaml.Node, key, value string) {
	if v := mapValue(m, key); v != nil {
		v.Kind, v.Tag, v.Value, v.Style = yaml.ScalarNode, "!!str", value, 0
		return
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, &yaml.Node{Kind: yaml.ScalarNode, Value: value})
}
