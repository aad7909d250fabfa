# Shared by the perf/ shell scripts (sourced, not run).

# A free TCP port on 127.0.0.1.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Whether something accepts connections on 127.0.0.1:$1 (no curl needed: the
# device machine may lack it).
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Writes $1/nginx.conf: one nginx worker answering `hello` on 127.0.0.1:$2,
# keep-alive without a request limit, every path under $1 (no /var/lib/nginx).
backend_nginx_conf() {
    local dir=$1 port=$2
    cat > "$dir/nginx.conf" <<NGINX
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/cb; proxy_temp_path $dir/px; fastcgi_temp_path $dir/fc;
    uwsgi_temp_path $dir/uw; scgi_temp_path $dir/sc;
    keepalive_requests 10000000;
    server { listen 127.0.0.1:$port backlog=4096; location / { return 200 "hello\n"; } }
}
NGINX
}
