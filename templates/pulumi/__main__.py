# {{ d.service.name }}
