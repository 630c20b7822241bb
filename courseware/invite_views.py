from django.http import Http404, HttpRequest, HttpResponse


def accept(request: HttpRequest, token: str) -> HttpResponse:
    raise Http404
