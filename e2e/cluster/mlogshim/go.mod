module monis.app/mlog

go 1.26.0

require k8s.io/klog/v2 v2.140.0
